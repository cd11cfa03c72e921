"""The `ugc` command line: the top of the house.

It may import every layer (settings, stack, sinks, schemas); nothing in the project imports it
except the tests and the `ugc` entry point.
"""
