"""destila.distill"""
