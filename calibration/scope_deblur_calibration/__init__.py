"""Through-focus calibration of scope-deblur for one microscope."""
