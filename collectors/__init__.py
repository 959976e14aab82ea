"""Inputs (syslog, file, http, pcap) and the device parsers that turn their lines into ECS."""
