"""destila.serve"""
