"""The figures: heatmaps as the paper's Fig. 5 (centre), contrasts, the sweep, reliability and
risk-coverage."""
