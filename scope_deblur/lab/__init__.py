"""The lab beside the product: training, evaluation, benchmarks and their figures.

Nothing that runs at the microscope imports it. Its commands (``train``, ``evaluate``,
``bench``) join ``scope-deblur`` through the entry-point group ``scope_deblur.commands``.
"""
