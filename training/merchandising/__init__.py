"""Offline help for the operator's merchandising: synonym candidates mined from a query log
(:mod:`.synonym_mining`), for review and import through ``/v1/synonyms``."""
