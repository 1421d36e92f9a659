#
#   Weather update client, as in the ZeroMQ guide (chapter 1), subscribing through weft.
#   The one change from the guide: the endpoint string. It connects a SUB socket to
#   ipc://weather.sock in the directory it runs in, where its node hands on topic
#   `weather` with
#       weft node --zmq sub/weather=ipc://$PWD/weather.sock
#   Collects weather updates and finds the average temperature in a zipcode.
#
import sys

import zmq

#  Socket to talk to server
context = zmq.Context()
socket = context.socket(zmq.SUB)

print("Collecting updates from weather server…")
socket.connect("ipc://weather.sock")

# Subscribe to zipcode, default is NYC, 10001
zip_filter = sys.argv[1] if len(sys.argv) > 1 else "10001"
socket.setsockopt_string(zmq.SUBSCRIBE, zip_filter)

# Process 5 updates
total_temp = 0
for update_nbr in range(5):
    string = socket.recv_string()
    zipcode, temperature, relhumidity = string.split()
    total_temp += int(temperature)

print(f"Average temperature for zipcode '{zip_filter}' was {total_temp / (update_nbr+1)} F")
