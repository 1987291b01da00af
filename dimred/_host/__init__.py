"""Layer 3a, the plugin host: entry-point loading, name -> plugin lookup, settings -> plugin instances."""
