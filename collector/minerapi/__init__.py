"""Miners' own APIs: cgminer-style JSON on TCP 4028 (Antminer, Whatsminer v2, LuxOS, Braiins
legacy)."""
