"""placeholder filled below"""
