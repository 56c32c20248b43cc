"""The Qt-free core of Enclave: everything the GUI and the CLI share."""
