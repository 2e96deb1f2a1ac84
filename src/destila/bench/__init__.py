"""destila.bench"""
