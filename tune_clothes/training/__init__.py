"""The training core: one configuration on one fold. Imports no Ray."""
