//! The queries about authorities: their endpoints (with sealed signing secrets) and notify addresses.
