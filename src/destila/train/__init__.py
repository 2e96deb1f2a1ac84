"""destila.train"""
