"""destila.infer"""
