"""Record linkage without a common identifier: normalised fields, match keys, encodings.

Layer: above ``stats``, below ``protocols`` (which build private linkage on it).
:mod:`.normalise` turns names, dates and postcodes into comparable text;
:mod:`.match_keys` builds deterministic keys from them by rules such as
``soundex(surname)+dob+sex``; :mod:`.bloom` encodes records as keyed Bloom filters,
:mod:`.blocking` and :mod:`.linker` find their matches among the encodings.
"""
