"""Export a QA model for deployment, in three steps driven by one `ExportOptions`:

1. `exporter.export_onnx`: the ONNX graph (fused), tokenizer, config, card and export.json in a folder;
2. `quantize.quantize`: dynamic int8 weights (run by step 1 when `options.int8`);
3. `parity.check_parity`: the exported folder answers held-out questions like the PyTorch model (run by step 1
   when `options.parity_data`), through `destila.evaluation`.

Each step can be called alone. The exported folder is run by `destila.infer.runners` (backend `onnx`); nothing
in `destila.infer` imports this package.
"""
