"""安全运营子平台: the security-operations sub-platform core."""
