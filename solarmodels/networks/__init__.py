"""Networks (plain :class:`torch.nn.Module` classes), one family per module; each registers its builders with
:func:`solarmodels.registry.register_model` at import, and the registry imports every module of
this package on first use (no edit here is needed to add one)."""
