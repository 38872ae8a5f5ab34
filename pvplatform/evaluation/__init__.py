"""Evaluators' access: read grants and microdata agreements, exports with privacy built in, the
export audit, and the read-only JSON API with personal tokens."""
