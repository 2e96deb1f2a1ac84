"""destila.export"""
