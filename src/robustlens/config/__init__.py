"""The config tree: where it is, resolvers, validation against signatures, configuration errors, the saved job config."""
