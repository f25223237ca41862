"""Flow sources, one file each: where a flow's items come from."""
