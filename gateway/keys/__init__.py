"""Team keys: one key per person or app, each with its own limits and usage, beside GATEWAY_API_KEY."""
