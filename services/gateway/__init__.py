"""The gateway: the public HTTPS API (auth, validation, caches, the query pipeline) in front of the services."""
