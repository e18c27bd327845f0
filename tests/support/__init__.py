"""Test doubles the suite shares across processes (importable by child processes started from the repository)."""
