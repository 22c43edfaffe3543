"""Training systems (losses, optimisers, steps; :class:`solarmodels.systems.base.System`), one per
module, registered with :func:`solarmodels.registry.register_system` and discovered by the registry."""
