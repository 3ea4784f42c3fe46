"""Capacity and cost of one stack of the order pipeline, on paper: AWS's published rules (capacity/model.py), our
measured service times (capacity/service_times.json), a discrete-time simulation (capacity/simulate.py) and the
answers `orderctl capacity` prints (capacity/answer.py). Pure: imports nothing of infra, handler or sandbox."""
