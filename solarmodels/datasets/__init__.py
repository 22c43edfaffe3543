"""torch Datasets over solarprep outputs, registered with
:func:`solarmodels.registry.register_dataset` and discovered by the registry."""
