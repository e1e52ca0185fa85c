"""Cloud Code inside the server: loading the user's module, running its hooks in the write and read paths,
`request.api`, functions, jobs, webhooks and LiveQuery hooks. Users import `livequery.cloud`, never this."""
