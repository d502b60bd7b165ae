"""Downstream classifiers: design document 001's pneumonia CNN and a ResNet18-style option,
a training loop with the class-imbalance remedies the augmentation experiment compares, and
classification metrics."""

from radgen.classifiers.metrics import classification_metrics
from radgen.classifiers.nets import CLASSIFIERS, PneumoniaCNN, ResNet18Classifier, build_classifier
from radgen.classifiers.train import ClassifierTrainConfig, class_weights, fit_classifier, predict_proba

__all__ = [
    "CLASSIFIERS",
    "ClassifierTrainConfig",
    "PneumoniaCNN",
    "ResNet18Classifier",
    "build_classifier",
    "class_weights",
    "classification_metrics",
    "fit_classifier",
    "predict_proba",
]
