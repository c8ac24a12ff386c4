"""METS/PREMIS for AIPs: typed inputs, element builders, the document builder, validation.

Each module does one job and is testable alone: :mod:`.model` (input dataclasses),
:mod:`.premis`, :mod:`.rights`, :mod:`.dublincore`, :mod:`.sourcemd` (element
builders), :mod:`.mets` (the document), :mod:`.validate` (offline XSD validation) and
:mod:`.read` (a fast lxml reader for large METS, where metsrw is quadratic).
"""
