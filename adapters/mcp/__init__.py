"""MCP (Model Context Protocol): servers' tools as agent tools, and the gateway as an MCP server."""
