#
#   Hello World client, as in the ZeroMQ guide (chapter 1), calling through weft.
#   The one change from the guide: the endpoint string. It connects a REQ socket to
#   ipc://hello.sock in the directory it runs in, where its node calls service `hello`:
#       weft node --zmq call/hello=ipc://$PWD/hello.sock
#   Sends "Hello" to server, expects "World" back.
#
import zmq

context = zmq.Context()

#  Socket to talk to server
print("Connecting to hello world server…")
socket = context.socket(zmq.REQ)
socket.connect("ipc://hello.sock")

#  Do 10 requests, waiting each time for a response
for request in range(10):
    print(f"Sending request {request} …")
    socket.send_string("Hello")

    #  Get the reply.
    message = socket.recv()
    print(f"Received reply {request} [ {message} ]")
