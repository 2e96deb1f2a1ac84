"""destila.models"""
