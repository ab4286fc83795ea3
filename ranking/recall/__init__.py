"""Candidate recall: tokenisation, lexical and dense search recall, homepage sources."""
