"""Training engine: config tree, tf.distribute set-up, input pipelines, the training and
evaluation loops, checkpoints, fine-tuning and export. TensorFlow lives here; networks
(`nets/`) stay Keras-only."""
