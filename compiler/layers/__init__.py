"""Layer registry entries, one module per family; the registry imports a module when a spec
names one of its layers (see `dlc.compiler.registry.Registry`)."""
