"""Protocols the domain reaches the world through; one concern per module."""
