"""Configuration: schema, loader and the commented default file."""
