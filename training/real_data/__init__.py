"""Evaluations on real public datasets (Olist, Home Depot, Taobao)."""
