"""Who may do what: users, sessions, roles, ACLs and class-level permissions."""
