"""Helpers shared by the tests of every folder: the sample files they make, the system
tools the suite runs, and a dispatch backend that records submissions."""
