"""DAWproject (``.dawproject``), the open exchange format of Bitwig Studio, Studio One and Cubase: import and export."""
