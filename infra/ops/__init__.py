"""Operators' tools over the running pipeline: dead letters (list, show, replay) and consumer
lag. `kafka` is the one module that talks to Kafka; the others are services over it, and the
`ugc` commands only call the services."""
