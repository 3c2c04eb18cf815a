"""The signals service: futexes today; signal actions, queues and delivery live beside them."""
