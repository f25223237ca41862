"""Publishing results to the outside world: MQTT brokers (flows and ``heiti run``)."""
