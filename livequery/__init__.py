"""LiveQuery: the Parse LiveQuery protocol, the matcher, subscriptions, fan-out, and the bus carrying writes."""
