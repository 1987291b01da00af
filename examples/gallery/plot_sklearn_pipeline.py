"""
A Reducer in a scikit-learn pipeline
====================================

``dimred.Reducer`` is a scikit-learn estimator: it clones, takes ``get_params``/``set_params``, names its output
columns and fits inside a ``Pipeline``. Here it squeezes the 64 pixels of the digits into 2 codes in front of a
5-nearest-neighbour classifier, trained on three quarters of the images and scored on the rest.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

import dimred

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

pipeline = make_pipeline(
    MinMaxScaler(),
    dimred.Reducer(model="ne-ae", n_components=2, random_state=0),
    KNeighborsClassifier(n_neighbors=5),
)
pipeline.fit(X_train, y_train)
print(f"accuracy on the held-out images, from 2 codes each: {pipeline.score(X_test, y_test):.3f}")
print("the reducer's output columns:", pipeline[:-1].get_feature_names_out())

# %%
# The codes the classifier sees for the held-out images (the pipeline without its last step):

codes = pipeline[:-1].transform(X_test)
plt.figure(figsize=(5, 4.2))
plt.scatter(codes[:, 0], codes[:, 1], c=y_test, s=6, cmap="tab10")
plt.colorbar(label="digit")
plt.title("held-out digits, encoded by the fitted pipeline")
plt.tight_layout()
plt.show()
