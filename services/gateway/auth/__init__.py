"""Identity: API keys (stored hashed, scoped, revocable), JWT bearer tokens, and the authenticator that turns
whichever credential a request presents into a `Principal`."""
